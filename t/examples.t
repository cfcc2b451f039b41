#!/usr/bin/perl

# The nginx configurations of examples/ are complete files a user copies:
# each one passes nginx -t as it is written, its machine's paths and ports
# moved into the test's directory and onto loopback, CI and the metadata
# service replaced by the emulators; and the main ones answer lookups.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use File::Path qw(make_path);
use Test::More;

my $examples = "$CiJobsTest::ROOT/examples";
my @files = map { s{.*/}{}r } glob "$examples/*.conf";
ok(scalar @files >= 4, 'examples/ has its configurations')
    or diag("@files");

# The example as the test's nginx runs it.  $gateway: the listen port that
# becomes the harness's (%%PORT%%); every other port gets a free one, kept
# in $ports.
sub adapt {
    my ($t, $name, $gateway, $ports) = @_;
    my $d = $t->dir;
    my $text = CiJobsTest::slurp("$examples/$name");

    $text =~ s{^load_module modules/ngx_http_ci_jobs_module\.so;}
              {load_module $CiJobsTest::MODULE;}m
        or die "$name: no load_module line";
    $text =~ s{^user \S+;}{$> == 0 ? 'user root;' : ''}me;
    $text =~ s{^pid \S+;}{pid $d/nginx.pid;}m;
    $text =~ s{^error_log \S+;}{error_log $d/error.log info;}m;
    $text =~ s{\baccess_log /\S+;}{access_log $d/access.log;}g;
    $text =~ s{/etc/nginx/ci/}{$d/etc/}g;
    $text =~ s{/var/cache/nginx/}{$d/cache/}g;
    $text =~ s{\blisten (\d+)\b}{
        my $p = $1 == $gateway ? $t->port
              : ($ports->{$1} //= CiJobsTest::free_port());
        "listen 127.0.0.1:$p"
    }ge;

    # CI and the metadata service: the emulators, for every location
    my $meta = $t->{metadata} ? "ci_jobs_metadata_url " . $t->metadata_url
                                . ';' : '';
    my $pass = 'ci_jobs_pass http://127.0.0.1:'
             . $t->emulator_port((keys %{ $t->{emulators} })[0]) . ';';
    my $inject = join "\n    ", $pass, $meta,
        map { "${_}_temp_path $d/temp/$_;" }
            qw(client_body proxy fastcgi uwsgi scgi);
    $text =~ s/^http \{\n/http {\n    $inject\n/m
        or die "$name: no http block";

    # the files it names: credentials, a certificate and its key
    make_path("$d/etc", "$d/cache", "$d/temp");
    while ($text =~ m{\Q$d\E/etc/([\w.-]+)}g) {
        my $f = $1;
        my $content = $f =~ /\.credentials$/
            ? "SecretId=$CiJobsTest::SECRET_ID\n"
              . "SecretKey=$CiJobsTest::SECRET_KEY\n"
            : $f =~ /\.(crt|key)$/ ? CiJobsTest::slurp("$d/tls/good.$1")
            : die "$name: what is $f?";
        open my $fh, '>', "$d/etc/$f" or die "$d/etc/$f: $!";
        print $fh $content;
        close $fh;
    }

    my $file = "$d/$name";
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
    return $file;
}

# each one, nginx -t
for my $name (@files) {
    my $t = CiJobsTest->new(metadata => {});
    my $file = adapt($t, $name, 80, {});
    my ($status, $out) = $t->nginx_test_file($file);
    is($status, 0, "$name: nginx -t") or diag($out);
    $t->done;
}

# one bucket with the CVM role's credentials: signed with the role's keys,
# which the emulator alone accepts
{
    my $t = CiJobsTest->new(metadata => { period => 60, lifetime => 120 },
                            emulators => { role => { secrets_file => 1 } });
    $t->start_nginx(adapt($t, 'single-bucket-role.conf', 80, {}));

    # the workers fetch the role's keys after they start
    my $r;
    CiJobsTest::wait_for(sub {
        $r = $t->get('/ci/jobs/jobsSuccess1');
        $r->{status} != 503;
    }, 10);
    is($r->{status}, 200, 'single-bucket-role.conf: a lookup');
    like($r->{body}, qr{<State>Success</State>}, '... in XML');
    $r = $t->get('/ci/jobs/jobsSuccess1', Accept => 'application/json');
    like($r->{body}, qr{^\{"Response":}, '... or JSON on request');
    is(scalar(grep { $_->{signature} eq 'ok' } $t->upstream_requests('role')),
       1, '... signed with the role\'s keys, once (the cache)');
    like($t->get('/ci-status')->{body}, qr{^ci_jobs_}m,
         '... and the metrics');
    $t->done;
}

# several buckets: the first one's location, with the file's keys
{
    my $t = CiJobsTest->new;
    $t->start_nginx(adapt($t, 'multi-bucket.conf', 80, {}));
    my $r = $t->get('/media/jobs/jobsSuccess1');
    is($r->{status}, 200, 'multi-bucket.conf: a lookup under /media/');
    is(CiJobsTest::error_code($t->get('/media/pic_jobs/picSuccess1')),
       'NoSuchApi', '... only the APIs that location names');
    $t->done;
}

# HTTPS and HTTP/2 in front
{
    my $t = CiJobsTest->new;
    my %ports;
    $t->start_nginx(adapt($t, 'tls-http2-front.conf', 443, \%ports));
    my $url = 'https://127.0.0.1:' . $t->port . '/ci/jobs/jobsSuccess1';
    my $out = `curl -sk --http2 -o /dev/null -w '%{http_code} %{http_version}' $url`;
    is($out, '200 2', 'tls-http2-front.conf: a lookup over HTTPS and HTTP/2');
    $out = `curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$ports{80}/ci/`;
    is($out, '301', '... plain HTTP redirected');
    $t->done;
}

done_testing;
