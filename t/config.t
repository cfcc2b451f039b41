#!/usr/bin/perl

# A configuration that cannot work fails "nginx -t", with the directive
# named in the message.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Test::More;

my $t = CiJobsTest->new(emulators => {});

my $pass = 'ci_jobs_pass http://127.0.0.1:1;';
my $id = "ci_jobs_secret_id $CiJobsTest::SECRET_ID;";
my $key = "ci_jobs_secret_key $CiJobsTest::SECRET_KEY;";
my $where = "ci_jobs_bucket $CiJobsTest::BUCKET; ci_jobs_region $CiJobsTest::REGION;";

sub server { "server { listen 127.0.0.1:1; $_[0] }" }

my $dir = $t->dir;

sub write_file {
    my ($name, $text, $mode) = @_;
    open my $fh, '>', "$dir/$name" or die;
    print $fh $text;
    close $fh;
    chmod $mode, "$dir/$name";
}

write_file('broken.credentials', "SecretId=AKIDx\n", 0600);
write_file('good.credentials', "SecretId=AKIDx\nSecretKey=k\n", 0600);
write_file('open.credentials', "SecretId=AKIDx\nSecretKey=k\n", 0644);

# [ http block, expected message, what ]
my @bad = (
    [ server("location / { ci_jobs on; ci_jobs_region ap-beijing; $id $key $pass }"),
      qr/"ci_jobs_bucket" is not set/, 'no bucket' ],
    [ server("location / { ci_jobs on; ci_jobs_bucket b-1; $id $key $pass }"),
      qr/"ci_jobs_region" is not set/, 'no region' ],
    [ server("location / { ci_jobs on; $where $pass }"),
      qr/ci_jobs_secret_id.*ci_jobs_secret_key/, 'no credentials' ],
    [ server("location / { ci_jobs on; $where $id $pass }"),
      qr/ci_jobs_secret_key/, 'no secret key' ],
    [ server("location / { ci_jobs on; ci_jobs_bucket Bad_Bucket; "
             . "ci_jobs_region ap-beijing; $id $key $pass }"),
      qr/invalid "ci_jobs_bucket"/, 'a bucket without APPID' ],
    [ server("location / { ci_jobs on; ci_jobs_bucket b-1; "
             . "ci_jobs_region ap/x; $id $key $pass }"),
      qr/invalid "ci_jobs_region"/, 'a region with a slash' ],
    [ server("location / { ci_jobs on; $where $id $key "
             . "ci_jobs_pass ftp://127.0.0.1; }"),
      qr/invalid URL prefix in "ci_jobs_pass"/, 'an ftp URL' ],
    [ server("location / { ci_jobs on; $where $id $key "
             . "ci_jobs_pass http://127.0.0.1:1/path; }"),
      qr/"ci_jobs_pass" .* must not have a URI part/, 'a URL with a path' ],
    [ server("location / { ci_jobs on; $where $id $key $pass "
             . "ci_jobs_apis jobs objects; }"),
      qr/invalid value "objects" in "ci_jobs_apis"/, 'an unknown API' ],
    [ server("location / { ci_jobs on; $where $id $key "
             . "ci_jobs_pass https://127.0.0.1:1; "
             . "ci_jobs_ssl_trusted_certificate /nonexistent/ca.pem; }"),
      qr/ci_jobs_ssl_trusted_certificate/, 'a missing CA file' ],
    [ server("location ~ ^/x { ci_jobs on; $where $id $key $pass }"),
      qr/"ci_jobs" .*regular expression location/, 'a regex location' ],
    [ server("location / { ci_jobs on; $where $id $key $pass "
             . "ci_jobs_sign_expires 5s; }"),
      qr/"ci_jobs_sign_expires" directive must be between/, 'a 5s signature' ],
    [ server("location / { ci_jobs on; $where $key $pass "
             . "ci_jobs_secret_id \"AKID with space\"; }"),
      qr/"ci_jobs_secret_id" directive must be 1 to 128 letters and digits/,
      'a space in the secret id' ],
    [ server("location / { ci_jobs on; $where $key $pass "
             . "ci_jobs_secret_id \"AKIDx&q-ak=AKIDy\"; }"),
      qr/"ci_jobs_secret_id" directive must be 1 to 128 letters and digits/,
      'an "&" in the secret id: it would split the Authorization fields' ],
    [ server("location / { ci_jobs on; $where $id $key $pass "
             . "ci_jobs_json sometimes; }"),
      qr/invalid value "sometimes"/, 'an unknown ci_jobs_json mode' ],
    [ server("ci_jobs on; location / { }"),
      qr/"ci_jobs" directive is not allowed here/, 'ci_jobs at server level' ],
    [ server("location / { ci_jobs on; $where $pass "
             . "ci_jobs_credentials_file /nonexistent/ci.credentials; }"),
      qr/"ci_jobs_credentials_file" "\/nonexistent\/ci.credentials" cannot be read/,
      'a missing credentials file' ],
    [ server("location / { ci_jobs on; $where $pass "
             . "ci_jobs_credentials_file $dir/broken.credentials; }"),
      qr/credentials file ".*broken.credentials" is not usable \(no SecretKey\)/,
      'a credentials file without a key' ],
    [ server("location / { ci_jobs on; $where $pass $id "
             . "ci_jobs_credentials_file $dir/good.credentials; }"),
      qr/use one source of credentials/, 'two sources of credentials' ],
    [ server("location / { ci_jobs on; $where $id $key "
             . "ci_jobs_pass http://no-such-host.invalid; }"),
      qr/host not found in upstream "no-such-host.invalid"/,
      'a host that does not resolve' ],
);

for my $case (@bad) {
    my ($http, $re, $what) = @$case;
    my ($status, $out) = $t->nginx_test($http);
    isnt($status, 0, "$what: nginx -t fails");
    like($out, $re, "$what: the message names it") or diag($out);
}

my ($status, $out) = $t->nginx_test(
    server("location /ci/ { ci_jobs on; $where $id $key $pass }"));
is($status, 0, 'a working configuration passes nginx -t') or diag($out);

($status, $out) = $t->nginx_test(server("location /ci/ { ci_jobs on; "
    . "$where $pass ci_jobs_credentials_file $dir/good.credentials; }"));
is($status, 0, 'a credentials file passes nginx -t') or diag($out);
unlike($out, qr/world-readable/, 'a private file: no warning');

($status, $out) = $t->nginx_test(server("location /ci/ { ci_jobs on; "
    . "$where $pass ci_jobs_credentials_file $dir/open.credentials; }"));
is($status, 0, 'a world-readable credentials file still works');
like($out, qr/\[warn\].*"ci_jobs_credentials_file" ".*open.credentials" is world-readable/,
     'but is warned about');
unlike($out, qr/SecretId=|AKIDx\b.*k\n/, 'nginx -t does not show the file');

# settings at http level are inherited; ci_jobs itself is not
($status, $out) = $t->nginx_test("$where $id $key $pass "
    . server("location /ci/ { ci_jobs on; location /ci/x/ { } }"));
is($status, 0, 'bucket, region, credentials and pass from the http level')
    or diag($out);

done_testing;
