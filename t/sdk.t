#!/usr/bin/perl

# The official Node SDK (cos-nodejs-sdk-v5) as a client of the gateway, the
# way Tencent's CI samples use it (cos.request with a Url): for every
# endpoint, in XML and in JSON (ci_jobs_json_array off), its parsed result
# equals the one it gets from the emulator directly.  Its RequestId is the
# body's, refusals included; the encoded comma of its Domain style and the
# empty nextToken of a paging loop work as they do with CI.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use JSON::PP;
use Test::More;

my $sdk = "$CiJobsTest::ROOT/t/sdk";
plan skip_all => 'the SDK is not installed (make deps)'
    unless -d "$sdk/node_modules/cos-nodejs-sdk-v5";

my $t = CiJobsTest->new(http => <<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;
        %%CREDENTIALS%%

        location /xml/ {
            ci_jobs on;
            ci_jobs_apis all;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /json/ {
            ci_jobs on;
            ci_jobs_apis all;
            ci_jobs_json on;
            ci_jobs_json_array off;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

my $json = JSON::PP->new->canonical;

# the SDK asks BASE for each request; its results, in order
sub sdk {
    my ($base, @requests) = @_;
    my $file = $t->dir . '/sdk-' . int(rand(1e9)) . '.json';
    open my $fh, '>', $file or die;
    print $fh encode_json(\@requests);
    close $fh;
    open my $p, '-|', "node $sdk/client.js $base $CiJobsTest::HOST "
                      . "$CiJobsTest::SECRET_ID $CiJobsTest::SECRET_KEY "
                      . "< $file" or die;
    my @out = map { decode_json($_) } <$p>;
    close $p;
    return @out;
}

# a result without what differs from one answer to the next
sub stable {
    my ($r) = @_;
    my $c = decode_json(encode_json($r));
    delete $c->{RequestId};
    delete $c->{Response}{RequestId} if ref $c->{Response};
    if ($c->{error}) {
        delete $c->{error}{RequestId};
        delete $c->{error}{body}{RequestId} if ref $c->{error}{body};
    }
    return $json->encode($c);
}

sub body_request_id {
    my ($r) = @_;
    return $r->{error} ? $r->{error}{body}{RequestId}
                       : $r->{Response}{RequestId};
}

my $queue = 'p893bcda225bf4945a378da6662e81a89';
my $emu = 'http://127.0.0.1:' . $t->emulator_port('plain');
my $gw = 'http://127.0.0.1:' . $t->port;

my @requests = (
    { path => '/jobs/j8d121820f5e411ec926ef19d53ba9c6f' },
    { key => 'jobs/jobsSuccess1,jobsRunning1,nosuchjob1' },
    { path => '/jobs/jobsUnicode1' },
    { path => '/pic_jobs/c93984788066911ed89ed352d4d9d2084' },
    { path => '/ai_jobs/a8d121820f5e411ec926ef19d53ba9c6f' },
    { path => '/inventorytriggerjob/b3deffea2f84911ec9cb15254008618d9' },
    { path => '/workflowexecution/runSuccess3' },
    { path => '/workflowexecution/runRunning3' },
    { path => '/jobs', query => { queueId => $queue, tag => 'Translation',
                                  size => '3', nextToken => '' } },
    { path => '/jobs', query => { queueId => $queue, tag => 'Transcode',
                                  workflowId => '' } },
    { path => '/pic_jobs', query => { queueId => $queue, tag => 'PicProcess',
                                      size => '2', states => 'Success' } },
    { path => '/ai_jobs', query => { queueId => $queue, tag => 'Translation',
                                     size => '1' } },
    { path => '/inventorytriggerjob', query => { size => '2', type => 'Job' } },
    { path => '/workflowexecution', query => { workflowId => 'w1',
                                               size => '2',
                                               nextToken => '' } },
    { path => '/jobs/fault500' },
);

my @direct = sdk($emu, @requests);

for my $prefix ('/xml', '/json') {
    my @via = sdk("$gw$prefix", @requests);

    for my $i (0 .. $#requests) {
        my $what = "$prefix" . ($requests[$i]{path} // "/$requests[$i]{key}")
                 . ' '
                 . encode_json($requests[$i]{query} // {});
        is(stable($via[$i]), stable($direct[$i]),
           "$what: the SDK's result, as from CI");
        my $rid = $via[$i]{RequestId} // $via[$i]{error}{RequestId};
        ok(defined $rid && length $rid, "$what: a RequestId");
        my $body_rid = body_request_id($via[$i]);
        is($rid, $body_rid, "$what: the body's RequestId")
            if defined $body_rid;
    }

    # a paging loop that starts with nextToken '', as the SDK samples do
    for my $list ([ '/jobs', { queueId => $queue, tag => 'Translation',
                               size => '10' }, 'JobsDetail', 26 ],
                  [ '/workflowexecution', { size => '4' },
                    'WorkflowExecutionList', 15 ],
                  [ '/inventorytriggerjob', { size => '6' }, 'JobsDetail',
                    15 ]) {
        my ($path, $query, $name, $count) = @$list;
        my ($n, $token, $pages) = (0, '', 0);
        do {
            my ($r) = sdk("$gw$prefix",
                          { path => $path,
                            query => { %$query, nextToken => $token } });
            my $items = $r->{Response}{$name} // [];
            $n += ref $items eq 'ARRAY' ? @$items : 1;
            $token = $r->{Response}{NextToken} // '';
            $pages++;
        } while (length $token && $pages < 10);
        is($n, $count, "$prefix$path: $count items over $pages pages");
    }

    # refused by the gateway: the SDK sees CI's error, and its RequestId
    my @refused = (
        [ { path => '/jobs/a,,b' }, 400, 'InvalidArgument' ],
        [ { path => '/jobs', query => { queueId => $queue } }, 400,
          'InvalidArgument' ],
        [ { path => '/jobs', query => { queueId => $queue, tag => 'T',
                                        size => '101' } }, 400,
          'InvalidArgument' ],
        [ { path => '/workflowexecution', query => { states => 'Pause' } },
          400, 'InvalidArgument' ],
        [ { path => '/objects/a' }, 404, 'NoSuchApi' ],
        [ { path => '/jobs/faultmalformed' }, 502, 'BadGateway' ],
    );
    my @got = sdk("$gw$prefix", map { $_->[0] } @refused);
    for my $i (0 .. $#refused) {
        my ($req, $status, $code) = @{ $refused[$i] };
        my $what = "$prefix$req->{path} refused";
        is($got[$i]{error}{statusCode}, $status, "$what: $status");
        is($got[$i]{error}{code}, $code, "$what: $code");
        like($got[$i]{error}{RequestId} // '', qr/\A[0-9a-f]{32}\z/,
             "$what: err.RequestId is nginx's request id");
        is($got[$i]{error}{RequestId}, $got[$i]{error}{body}{RequestId},
           "$what: the body's RequestId");
    }
}

$t->done;
done_testing;
